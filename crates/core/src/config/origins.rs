//! Which browser origins may call the API and the embedded store:
//! `ALLOWED_ORIGINS`, by default the broker's own.

use std::net::SocketAddr;

use super::Reader;

/// Which browser origins may call the API and the embedded store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedOrigins {
    /// `ALLOWED_ORIGINS=*`: only for development.
    Any,
    List(Vec<String>),
}

impl AllowedOrigins {
    pub fn allows(&self, origin: &str) -> bool {
        match self {
            AllowedOrigins::Any => true,
            AllowedOrigins::List(list) => list.iter().any(|o| o.eq_ignore_ascii_case(origin)),
        }
    }

    /// The default: the broker's own origin, so its demo page works and nothing else.
    fn own_origin(bind: SocketAddr) -> Self {
        let port = bind.port();
        let mut list = vec![format!("http://{bind}")];
        if bind.ip().is_loopback() {
            list.push(format!("http://localhost:{port}"));
        }
        AllowedOrigins::List(list)
    }
}

/// `bind` is the API's address, whose origin is the default.
pub(super) fn parse<F: Fn(&str) -> Option<String>>(env: &mut Reader<'_, F>, bind: SocketAddr) -> AllowedOrigins {
    match env.string("ALLOWED_ORIGINS").as_deref() {
        None => AllowedOrigins::own_origin(bind),
        Some("*") => AllowedOrigins::Any,
        Some(list) => {
            let list: Vec<String> = list
                .split(',')
                .map(|o| o.trim().trim_end_matches('/').to_owned())
                .filter(|o| !o.is_empty())
                .collect();
            for origin in list
                .iter()
                .filter(|o| !(o.starts_with("http://") || o.starts_with("https://")))
            {
                env.problem(format!(
                    "ALLOWED_ORIGINS entries must be origins such as https://app.example (got {origin:?})"
                ));
            }
            AllowedOrigins::List(list)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::parse;

    #[test]
    fn origins_default_to_the_api_and_are_checked() {
        let own = parse(&[("BIND_ADDR", "127.0.0.1:8080")])
            .expect("valid")
            .allowed_origins;
        assert!(own.allows("http://127.0.0.1:8080") && own.allows("http://localhost:8080"));
        let listed = parse(&[("ALLOWED_ORIGINS", "https://app.example/, https://b.example")])
            .expect("valid")
            .allowed_origins;
        assert!(listed.allows("https://APP.example") && !listed.allows("http://app.example"));
        assert_eq!(
            parse(&[("ALLOWED_ORIGINS", "*")]).expect("valid").allowed_origins,
            AllowedOrigins::Any
        );
        assert!(parse(&[("ALLOWED_ORIGINS", "app.example")]).is_err());
    }
}
