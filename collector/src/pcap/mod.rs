//! Packet captures: pcap and pcapng files read frame by frame ([`reader`]), and the flow
//! table that turns dissected packets into `flows` rows ([`table`], [`flow`]) for file
//! ingest and live capture alike. The frames go through the packet layer
//! ([`crate::packet`]), which also finds flow-export datagrams in them.

pub mod flow;
pub mod packets;
pub mod reader;
pub mod table;

pub use flow::{EndReason, Flow, FlowKey};
pub use packets::{PacketFlows, PacketStats};
pub use reader::{CaptureError, Frame, PROGRESS_STEP, for_each_frame, for_each_frame_in, is_capture};
pub use table::{FlowTable, TableConfig, TableStats};
