//! Integration tests: the real app on port 0, the embedded store in a temp
//! dir, and HTTP exactly as a browser and a frontend would send it.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod audit;
mod auth;
mod cdn;
mod complete;
mod download;
mod errors;
mod exports;
mod health;
mod isolation;
mod large;
mod limits;
mod multipart;
mod objects;
mod openapi;
mod put_mode;
mod storage;
mod store_policy;
mod webhooks;
