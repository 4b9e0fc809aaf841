//! Another client of a fake tenant, as the customer's own backend would be: it shares the
//! tenant's rate-limit bucket with the tool under test.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use serde_json::{Value, json};

use super::{CLIENT_ID, CLIENT_SECRET, FakeTenant};

/// Another client of the tenant (the customer's own backend): one Management API request about
/// every `period`, until told to stop. Counts the requests it made and those refused with 429.
pub struct Neighbour {
    stop: Arc<AtomicBool>,
    made: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Neighbour {
    pub fn start(tenant: &FakeTenant, period: Duration) -> Neighbour {
        let client = reqwest::blocking::Client::new();
        let answer = tenant
            .request_token(&client)
            .text()
            .expect("the neighbour's token");
        let token: Value = serde_json::from_str(&answer).expect("a token answer");
        let token = token["access_token"].as_str().unwrap().to_string();
        let (stop, made, refused) = Default::default();
        let n = Neighbour {
            stop,
            made,
            refused,
            thread: None,
        };
        let (stop, made, refused) = (n.stop.clone(), n.made.clone(), n.refused.clone());
        let url = format!("{}/api/v2/logs?per_page=1&page=0", tenant.url());
        let thread = thread::spawn(move || {
            let mut rng = fastrand::Rng::with_seed(7);
            while !stop.load(Ordering::Relaxed) {
                let status = client
                    .get(&url)
                    .bearer_auth(&token)
                    .send()
                    .map(|r| r.status().as_u16());
                made.fetch_add(1, Ordering::Relaxed);
                if status.is_ok_and(|s| s == 429) {
                    refused.fetch_add(1, Ordering::Relaxed);
                }
                // About once a period, never quite in step with anyone.
                thread::sleep(period.mul_f64(0.9 + 0.2 * rng.f64()));
            }
        });
        Neighbour {
            thread: Some(thread),
            ..n
        }
    }

    /// Stops it: (requests made, requests refused).
    pub fn stop(mut self) -> (usize, usize) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap();
        (
            self.made.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
        )
    }
}
