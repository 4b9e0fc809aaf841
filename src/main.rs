//! The `auth0-mgmt-webhooks` binary: everything is in the library, so the demo and benchmark
//! run the same code.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(auth0_mgmt_webhooks::main_with_args(std::env::args_os()))
}
