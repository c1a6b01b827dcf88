//! plumb's collector: bytes from the network or from files to Arrow `flows` batches.
//!
//! - [`schema`]: the `flows` table, defined once.
//! - [`netflow`]: NetFlow v5/v7/v9 and IPFIX decoders.
//! - [`packet`]: zero-copy headers and the walk through tunnels to the inner packet.
//! - [`pcap`]: reading pcap/pcapng files.
//! - [`listen`]: UDP listeners with batched receive.
//! - [`batch_memory`]: the allocator settings that keep freed batches in the process.

pub mod addr;
pub mod batch_memory;
pub mod listen;
pub mod netflow;
pub mod packet;
pub mod pcap;
pub mod schema;
pub mod sflow;
pub mod source_kind;
pub mod stats;
