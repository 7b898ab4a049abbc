//! sluice-transforms: every built-in transform and condition, one file per family.
//!
//! Each family module has a `register` function that adds its types to a registry; [`registry`]
//! gives a registry with all of them. A transform's settings struct is its documentation:
//! `sluice list` prints the doc comments and types of those structs.

pub mod aggregate;
pub mod array;
pub mod batch;
pub mod common;
pub mod conditions;
pub mod detect;
pub mod detect_first_seen;
pub mod detect_threshold;
pub mod detect_window;
#[cfg(any(test, feature = "dns-test-server"))]
pub mod dns_test_server;
pub mod ecs_cloudtrail;
pub mod enrich;
pub mod enrich_dns;
pub mod enrich_http;
pub mod enrich_mmdb;
pub mod format;
pub mod hash;
pub mod http;
pub mod kv;
pub mod kv_cache;
pub mod kv_file;
pub mod kv_mmdb;
pub mod meta;
pub mod meta_duration;
pub mod meta_failure;
pub mod meta_lock;
pub mod meta_pipeline;
pub mod network;
pub mod number;
pub mod object;
pub mod object_convert;
pub mod object_query;
pub mod object_template;
pub mod parse;
pub mod parse_regex;
pub mod parse_syslog;
pub mod parse_vpc_flow;
pub mod parse_vpc_flow_ecs;
pub mod secrets;
pub mod string;
pub mod string_edit;
pub mod test_message;
pub mod time;
pub mod utility;
pub mod vpc_flow_doc;

#[cfg(test)]
pub(crate) mod testing;

use sluice_core::Registry;

/// Adds every built-in transform and condition to a registry.
pub fn register(r: &mut Registry) {
    aggregate::register(r);
    array::register(r);
    conditions::register(r);
    detect_first_seen::register(r);
    detect_threshold::register(r);
    detect_window::register(r);
    format::register(r);
    hash::register(r);
    ecs_cloudtrail::register(r);
    enrich::register(r);
    enrich_dns::register(r);
    enrich_http::register(r);
    enrich_mmdb::register(r);
    kv::register(r);
    kv_file::register(r);
    kv_mmdb::register(r);
    meta::register(r);
    meta_duration::register(r);
    meta_failure::register(r);
    meta_lock::register(r);
    meta_pipeline::register(r);
    network::register(r);
    number::register(r);
    object::register(r);
    parse::register(r);
    parse_regex::register(r);
    parse_syslog::register(r);
    parse_vpc_flow::register(r);
    secrets::register(r);
    string::register(r);
    string_edit::register(r);
    test_message::register(r);
    time::register(r);
    utility::register(r);
}

/// A registry holding every built-in transform and condition.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    register(&mut r);
    r
}
