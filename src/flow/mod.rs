//! Flow: packets and (later) flow records → bidirectional flows.
//!
//! Owns the flow key (canonical endpoints, protocol, overlay/VLAN context), per-direction
//! counters, TCP history and state, Community ID, IP fragment attribution, idle and active
//! timeouts, and the associative merge that lets tables built in parallel, or in separate
//! runs, combine into the result of one pass. Knows nothing about files or byte layouts:
//! it takes decoded [`PacketFacts`](crate::decode::PacketFacts).

mod community_id;
mod key;
mod stats;
mod table;

pub use community_id::{community_id, community_id_into, community_id_of};
pub use key::{FlowKey, icmp_port_equivalents};
pub use stats::{DirStats, History, conn_state, flags_text, push_flags_text, tcp};
pub(crate) use table::ENCODE_BATCH;
pub use table::{
    ChainId, Chains, DEFAULT_MAX_FRAGMENTS, Flow, FlowConfig, FlowSet, FlowTable, MAX_FLOW_CHAINS,
};
