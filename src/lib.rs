//! tapring facade
