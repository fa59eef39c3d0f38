//! Diagonal Gaussian posteriors and KL divergences.
