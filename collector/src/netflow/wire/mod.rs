//! The bottom layer of the NetFlow/IPFIX decoder: stateless views of what is on the wire
//! (set iteration, template records). Nothing here knows a column or holds state.

pub mod message;
pub mod sets;
pub mod template;
pub mod values;
