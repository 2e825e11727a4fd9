//! The end-to-end suites of Casewatch, in one test binary sharing one `support` tree.
//!
//! In process, over gRPC against a node on port 0: the scripted scenario (folded in-process
//! and played over gRPC), the contract, authorization and scopes, limits, a full log,
//! quarantine, shutdown, the published figures, the statistics and ranking of the scripted
//! week, number by number, and what auditors read of the past. As processes, the
//! `casewatch` binary itself: durability under SIGKILL, a flood, the operator's side, the auditor's tools,
//! reports, simulation, the benchmark, what a role says, views it cannot reach, a log and
//! views that do not belong together, and the deployment documents. `e2e` runs the roles
//! on the production backends (tansu and PostgreSQL); its tests are ignored in the plain
//! run, and `make test-e2e` runs them.

mod support;

mod audit_reads;
mod authorization;
#[cfg(feature = "bench")]
mod bench;
mod contract;
mod deployment_docs;
mod durability;
#[cfg(feature = "kafka")]
mod e2e;
mod embedded_service;
mod figures;
mod flood;
mod full_log;
mod limits;
mod operator;
mod pairing;
mod policy_service;
mod postgres_unreachable;
mod quarantine_service;
mod report;
mod report_periods;
mod reports;
mod role_lifecycle;
mod scenario_in_process;
mod scopes;
mod scripted_month;
mod shutdown;
mod simulate;
mod tools;
