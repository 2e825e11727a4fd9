//! The server's suites, in one test binary: TLS and mutual TLS at the edge, and health
//! following the views.

mod tls;
mod views_health;
