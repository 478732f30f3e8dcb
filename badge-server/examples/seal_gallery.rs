//! Writes every seal variant as PNG and SVG into a directory, for a human to look
//! at: `cargo run -p chengxin-badge-server --example seal_gallery -- OUT_DIR`.

#![allow(missing_docs)]

use badge_server::domain::seal::{Format, Lang, Seal, SealRenderer, SealState, Size};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "seals".into()));
    std::fs::create_dir_all(&out)?;
    let r = SealRenderer::new()?;
    let date = time::OffsetDateTime::now_utc().date();
    for state in SealState::ALL {
        for (lang, l) in [(Lang::Zh, "zh"), (Lang::En, "en")] {
            for (format, ext) in [(Format::Svg, "svg"), (Format::Png { scale: 2 }, "png")] {
                let seal = Seal {
                    state,
                    domain: "chenxi-shuzhi.cn".into(),
                    date,
                    lang,
                    size: Size::Medium,
                    format,
                };
                let path = out.join(format!("{state:?}-{l}.{ext}").to_lowercase());
                std::fs::write(&path, r.render(&seal)?)?;
            }
        }
    }
    println!("wrote seals to {}", out.display());
    Ok(())
}
