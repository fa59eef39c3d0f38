//! Mutual-information lower bounds and their critics.
