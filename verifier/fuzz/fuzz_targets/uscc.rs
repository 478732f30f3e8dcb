//! `Uscc::parse` never panics, and whatever it accepts parses again to the same value.
#![no_main]

use ca::identity::Uscc;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    if let Ok(code) = Uscc::parse(&input) {
        let again = Uscc::parse(code.as_str()).expect("a parsed USCC parses again");
        assert_eq!(again, code);
        assert_eq!(code.as_str().len(), 18);
        assert_eq!(code.to_string(), code.as_str());
        let _ = code.warnings();
    }
});
