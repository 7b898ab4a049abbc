//! Conditions: the tests behind every `when` and `meta.switch` case.
//!
//! `all`, `any` and `none` combine other conditions; the rest inspect one field. An absent field
//! makes an inspector false, never an error, so `when` reads naturally on sparse events.

pub mod bitwise;
pub mod format;
pub mod length;
pub mod logic;
pub mod network;
pub mod number;
pub mod object;
pub mod random;
pub mod string;

use sluice_core::Registry;

pub fn register(r: &mut Registry) {
    logic::register(r);
    string::register(r);
    number::register(r);
    object::register(r);
    format::register(r);
    network::register(r);
    bitwise::register(r);
    length::register(r);
    random::register(r);
}
