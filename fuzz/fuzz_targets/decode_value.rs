#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pgwarp_core::fuzz_targets::decode_value(data));
