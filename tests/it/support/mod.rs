//! Test support shared by the integration tests and the examples: an HTTP server on hyper, a fake
//! Auth0 tenant and a fake webhook receiver; for the integration tests alone, a harness running
//! the binary against them (`cli`).
#![allow(dead_code, unused_imports)]

pub mod cli;
pub mod hostile;
pub mod http;
pub mod neighbour;
pub mod proxy;
pub mod receiver;
pub mod tenant;
pub mod tls;

pub use http::{Reply, Request, Server};
pub use receiver::{Behaviour, FakeReceiver, Received};
pub use tenant::{
    CLIENT_ID, CLIENT_SECRET, FakeTenant, Fault, log, log_date, log_id, realistic_logs,
};
