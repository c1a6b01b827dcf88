//! plumb's collector: bytes from the network or from files to Arrow `flows` batches.
//!
//! - [`schema`]: the `flows` table, defined once.
//! - [`netflow`]: NetFlow v5/v7/v9 and IPFIX decoders.
//! - [`capture`]: reading pcap/pcapng files of exported datagrams.
//! - [`listen`]: UDP listeners with batched receive.

pub mod addr;
pub mod capture;
pub mod listen;
pub mod netflow;
pub mod schema;
pub mod source_kind;
pub mod stats;
