//! The view store's suites, in one test binary: the conformance suite against each
//! backend, then what only PostgreSQL has.

mod conformance_postgres;
mod conformance_sqlite;
