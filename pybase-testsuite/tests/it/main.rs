//! Cross-backend tests: SQLite and PostgreSQL side by side.

// Test helpers panic on failure by design.
#![allow(clippy::unwrap_used)]

mod differential;
