//! PyBase reference server.
