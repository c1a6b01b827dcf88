//! UDP listening: sockets with `SO_REUSEPORT` and large receive buffers, batched receive
//! with `recvmmsg`, and the kernel's drop counter read back per socket; and live packet
//! capture from an interface ([`capture`]).

pub mod capture;
pub mod drops;
pub mod mmsg;
pub mod socket;

pub use mmsg::BatchReceiver;
pub use socket::{BoundSocket, bind_udp};
