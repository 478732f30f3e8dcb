//! `Domain::parse` never panics, is idempotent, ignores ASCII case and gives the same
//! name back from its Unicode form; `registrable_domain` never panics and returns a
//! registrable suffix of the name.
#![no_main]

use ca::identity::Domain;
use libfuzzer_sys::fuzz_target;
use verifier::ident::registrable_domain;

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    let parsed = Domain::parse(&input).ok();
    assert_eq!(Domain::parse(&input.to_ascii_lowercase()).ok(), parsed);
    assert_eq!(Domain::parse(&input.to_ascii_uppercase()).ok(), parsed);
    let Some(d) = parsed else { return };
    assert_eq!(Domain::parse(d.as_str()).ok().as_ref(), Some(&d));
    assert_eq!(Domain::parse(&d.to_unicode()).ok().as_ref(), Some(&d));
    assert!(d.as_str().len() <= 253);
    assert!(d.covers(d.as_str()));
    if let Ok(r) = registrable_domain(&d) {
        assert!(r.covers(d.as_str()), "{r} does not cover {d}");
        assert_eq!(registrable_domain(&r).ok().as_ref(), Some(&r));
    }
});
