//! Who is calling: the principal every request is answered for.
//!
//! Keys are scoped by the caller's tenant, which never comes from the request
//! body. Until authentication lands every caller is the development principal
//! (tenant `default`), so the key layout and the ownership checks are already
//! in force.

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpRequest, dev::Payload};
use broker_core::TenantId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub tenant: TenantId,
    pub subject: String,
}

impl Caller {
    pub fn development() -> Self {
        Caller { tenant: TenantId::parse("default").expect("'default' is a valid tenant"), subject: "anonymous".into() }
    }
}

impl FromRequest for Caller {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(_: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Caller::development()))
    }
}
