//! `IcpNumber::parse_any` never panics, whatever it accepts parses again to the same
//! value, and the subject number and site suffix put together give the whole number.
#![no_main]

use ca::identity::IcpNumber;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    let website = IcpNumber::parse_website(&input);
    if let Ok(n) = IcpNumber::parse_any(&input) {
        let again = IcpNumber::parse_any(n.as_str()).expect("a parsed ICP number parses again");
        assert_eq!(again, n);
        match n.site() {
            Some(site) => assert_eq!(n.as_str(), format!("{}-{site}", n.main())),
            None => assert_eq!(n.as_str(), n.main()),
        }
        assert_eq!(website.is_ok(), n.site().is_some());
        let _ = n.kind();
    } else {
        assert!(website.is_err());
    }
});
