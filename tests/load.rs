//! A short run of the load generator (`make load` runs the long one) as a correctness test:
//! 16 virtual users for 3 s of the mixed workload, then every invariant must hold and no
//! answer may be a 5xx. Nothing about speed is asserted.

use std::time::Duration;

use api_tests::load::{run, LoadConfig};
use api_tests::TestApi;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_load_run_keeps_every_invariant() {
    let api = TestApi::start().await;
    let report = run(&api, &LoadConfig { users: 16, duration: Duration::from_secs(3) }).await;
    report.print();
    assert!(report.users == 16 && report.rooms > 0, "the run did work: {} users, {} rooms", report.users, report.rooms);
    assert_eq!(report.server_errors(), 0, "no 5xx under load");
    assert!(report.violations.is_empty(), "{:#?}", report.violations);
}
