//! Writes every seal variant as PNG and SVG into a directory, for a human to look
//! at, and prints the bytes each state's default seal (Chinese first, medium) takes
//! on the wire: `cargo run -p chengxin-badge-server --example seal_gallery -- OUT_DIR`.

#![allow(missing_docs)]

use badge_server::domain::seal::{Coding, Format, Lang, Seal, SealRenderer, SealState, Size};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "seals".into()));
    std::fs::create_dir_all(&out)?;
    let r = SealRenderer::new()?;
    let date = time::OffsetDateTime::now_utc().date();
    for state in SealState::ALL {
        for (lang, l) in [(Lang::Zh, "zh"), (Lang::En, "en")] {
            // Named as the server names them: `.svg`, `.png` (1×) and `@2x.png`.
            for (format, suffix) in [
                (Format::Svg, ".svg"),
                (Format::Png { scale: 1 }, ".png"),
                (Format::Png { scale: 2 }, "@2x.png"),
            ] {
                let seal = Seal {
                    state,
                    domain: "chenxi-shuzhi.cn".into(),
                    date,
                    lang,
                    size: Size::Medium,
                    format,
                };
                let path = out.join(format!("{state:?}-{l}{suffix}").to_lowercase());
                std::fs::write(&path, r.render(&seal)?)?;
            }
        }
    }
    println!("wrote seals to {}", out.display());
    println!(
        "default seal (zh, m) in bytes: state, SVG identity, SVG gzip, SVG br, PNG 1x, PNG 2x"
    );
    for state in SealState::ALL {
        let get = |format| {
            r.get(&Seal {
                state,
                domain: "chenxi-shuzhi.cn".into(),
                date,
                lang: Lang::Zh,
                size: Size::Medium,
                format,
            })
        };
        let svg = get(Format::Svg)?;
        svg.encode(Coding::Br)?;
        svg.encode(Coding::Gzip)?;
        let size = |c| svg.body(c).1.len();
        println!(
            "{state:?}\t{}\t{}\t{}\t{}\t{}",
            size(None),
            size(Some(Coding::Gzip)),
            size(Some(Coding::Br)),
            get(Format::Png { scale: 1 })?.bytes.len(),
            get(Format::Png { scale: 2 })?.bytes.len()
        );
    }
    Ok(())
}
