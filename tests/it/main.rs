//! The end-to-end tests: the real binary against a fake Auth0 tenant and a fake webhook
//! receiver, each started on 127.0.0.1 by the test. One test binary, so `support` compiles once.

mod support;

mod budget;
mod categories;
mod check;
mod deploy;
mod docs;
mod errors;
mod faults;
mod formats;
mod guarantee;
mod hostile;
mod made_from;
mod monitors;
mod operate;
mod owners;
mod pii;
mod proxy;
mod redeliver;
mod retention;
mod routes;
mod run;
mod secret_url;
mod security;
mod shell;
mod signatures;
mod support_selftest;
mod tls;
