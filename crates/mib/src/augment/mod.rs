//! Seeded image augmentations.
