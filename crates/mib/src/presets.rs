//! The configs shipped in `configs/`, embedded so that `--config mib` (and the Python
//! `MIB.from_preset("mib")`) work from any folder.

/// (name, TOML text) of each preset.
pub const PRESETS: &[(&str, &str)] = &[
    ("mib", include_str!("../../../configs/mib.toml")),
    (
        "mv-infomax",
        include_str!("../../../configs/mv-infomax.toml"),
    ),
    ("infomax", include_str!("../../../configs/infomax.toml")),
    ("vae", include_str!("../../../configs/vae.toml")),
    (
        "supervised",
        include_str!("../../../configs/supervised.toml"),
    ),
    ("fast", include_str!("../../../configs/fast.toml")),
    ("fast-conv", include_str!("../../../configs/fast-conv.toml")),
    ("best", include_str!("../../../configs/best.toml")),
    ("demo", include_str!("../../../configs/demo.toml")),
    ("demo-conv", include_str!("../../../configs/demo-conv.toml")),
];

/// The preset called `name` (with or without `.toml`), if any.
pub fn preset(name: &str) -> Option<&'static str> {
    let name = name.trim_end_matches(".toml");
    PRESETS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}
