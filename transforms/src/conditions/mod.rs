//! Conditions: the tests behind every `when` and `meta.switch` case.
//!
//! `all`, `any` and `none` combine other conditions; the rest inspect one field. An absent field
//! makes an inspector false, never an error, so `when` reads naturally on sparse events.

pub mod logic;
pub mod number;
pub mod object;
pub mod string;

use sluice_core::Registry;

pub fn register(r: &mut Registry) {
    logic::register(r);
    string::register(r);
    number::register(r);
    object::register(r);
}
