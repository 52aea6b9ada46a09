//! Black-box HTTP tests of every dialect: status, headers and whole bodies.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![recursion_limit = "256"]

mod support;

mod admin;
mod auth_matrix;
mod bad_text;
mod cloudshare;
mod growfit_accounts;
mod growfit_catalogue;
mod growfit_enrollments;
mod idempotency;
mod ocariot;
mod operations;

mod outage;
mod partner_classes;
mod partner_codes;
mod partner_roster;
