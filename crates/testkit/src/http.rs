//! Talking to the API and the store as a frontend and a browser do.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::TestApp;

/// A signed upload: the form (or URL) the browser uses, and the whole reply.
pub struct Signed {
    pub url: String,
    pub fields: BTreeMap<String, String>,
    pub object_key: String,
    pub body: Value,
}

/// Requests to one app under one credential.
pub struct Session<'a> {
    pub app: &'a TestApp,
    /// A bearer token, an API key, or nothing.
    pub token: Option<String>,
}

impl Session<'_> {
    /// Adds this session's credential to any request.
    pub fn authorize(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        let request = self.app.http.post(format!("{}{path}", self.app.address)).json(body);
        self.authorize(request).send().await.expect("request reaches the API")
    }

    /// A request of `method` to an API path, with no body.
    pub async fn send(&self, method: reqwest::Method, path: &str) -> reqwest::Response {
        let request = self.app.http.request(method, format!("{}{path}", self.app.address));
        self.authorize(request).send().await.expect("request reaches the API")
    }

    pub async fn job(&self, job_id: &str) -> reqwest::Response {
        self.send(reqwest::Method::GET, &format!("/exports/{job_id}")).await
    }

    pub async fn cancel_job(&self, job_id: &str) -> reqwest::Response {
        self.send(reqwest::Method::DELETE, &format!("/exports/{job_id}")).await
    }

    pub async fn sign(&self, kind: &str, filename: &str, content_type: &str) -> Signed {
        self.sign_in(None, kind, filename, content_type).await
    }

    /// Signs into `scope` (`user`, `team:{id}`, `tenant`), or the kind's default.
    pub async fn sign_in(&self, scope: Option<&str>, kind: &str, filename: &str, content_type: &str) -> Signed {
        let mut body = json!({"kind": kind, "filename": filename, "content_type": content_type});
        if let Some(scope) = scope {
            body["scope"] = json!(scope);
        }
        self.sign_body(&body).await
    }

    /// Signs any `/uploads/sign` body, which must be accepted.
    pub async fn sign_body(&self, body: &Value) -> Signed {
        let response = self.post_json("/uploads/sign", body).await;
        assert_eq!(response.status(), 200, "sign failed");
        let body: Value = response.json().await.expect("json");
        let fields = serde_json::from_value(body["fields"].clone()).expect("fields are a string map");
        Signed {
            url: body["url"].as_str().expect("url").to_owned(),
            object_key: body["objectKey"].as_str().expect("objectKey").to_owned(),
            fields,
            body,
        }
    }

    /// Signs, uploads `bytes` through the store's form POST (which must take
    /// them), and returns the staging key.
    pub async fn upload(&self, kind: &str, filename: &str, content_type: &str, bytes: Vec<u8>) -> String {
        self.upload_in(None, kind, filename, content_type, bytes).await
    }

    /// [`Session::upload`] into `scope`, or the kind's default.
    pub async fn upload_in(
        &self,
        scope: Option<&str>,
        kind: &str,
        filename: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> String {
        let signed = self.sign_in(scope, kind, filename, content_type).await;
        let response = post_form(&signed.url, &signed.fields, bytes, content_type).await;
        assert!(
            response.status().is_success(),
            "the store refused the upload: {}",
            response.status()
        );
        signed.object_key
    }

    pub async fn complete(&self, object_key: &str) -> reqwest::Response {
        self.post_json("/uploads/complete", &json!({ "objectKey": object_key }))
            .await
    }

    pub async fn download(&self, object_key: &str) -> reqwest::Response {
        self.post_json("/uploads/download", &json!({ "objectKey": object_key }))
            .await
    }
}

/// Posts a multipart form as a browser does: every field, then `file` last.
pub async fn post_form(
    url: &str,
    fields: &BTreeMap<String, String>,
    file: Vec<u8>,
    content_type: &str,
) -> reqwest::Response {
    try_post_form(url, fields, file, content_type)
        .await
        .expect("the store answers")
}

/// [`post_form`], for a store that may cut the connection instead of
/// answering (Garage does, on a body past the policy's maximum).
pub async fn try_post_form(
    url: &str,
    fields: &BTreeMap<String, String>,
    file: Vec<u8>,
    content_type: &str,
) -> reqwest::Result<reqwest::Response> {
    let mut form = reqwest::multipart::Form::new();
    for (name, value) in fields {
        form = form.text(name.clone(), value.clone());
    }
    let part = reqwest::multipart::Part::bytes(file)
        .file_name("upload.bin")
        .mime_str(content_type)
        .expect("mime");
    form = form.part("file", part);
    reqwest::Client::new().post(url).multipart(form).send().await
}

/// The kinds of metadata a completion's answer says were removed.
pub fn removed(body: &Value) -> Vec<&str> {
    strings(&body["removed"], "removed")
}

/// The strings of the JSON array `value` (`what` names it if it is not an array).
pub fn strings<'a, C: FromIterator<&'a str>>(value: &'a Value, what: &str) -> C {
    value
        .as_array()
        .unwrap_or_else(|| panic!("{what}: not an array: {value}"))
        .iter()
        .filter_map(Value::as_str)
        .collect()
}

/// Asserts that `response` is the API's error `code` with `status`
/// (`context` names the case).
pub async fn assert_error(response: reqwest::Response, status: u16, code: &str, context: &str) {
    assert_eq!(error_code(response).await, (status, code.to_owned()), "{context}");
}

/// The seconds a 429 says to wait (`Retry-After`, which it must carry).
pub fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds")
}

/// The status and `<Code>` of an S3 XML error body.
pub async fn s3_error_code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let code = text
        .split("<Code>")
        .nth(1)
        .and_then(|rest| rest.split("</Code>").next())
        .unwrap_or("")
        .to_owned();
    (status, code)
}

/// The status and `error.code` of an API error, which must also carry a message.
pub async fn error_code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("error bodies are JSON");
    let code = body["error"]["code"]
        .as_str()
        .expect("error.code is a string")
        .to_owned();
    assert!(
        body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
        "error.message is missing: {body}"
    );
    (status, code)
}
