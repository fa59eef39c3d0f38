//! Dataset readers, pairing of views and batch production.
