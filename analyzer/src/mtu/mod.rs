//! The MTU detectors (docs/domain/mtu.md): each reads the store over a window and returns
//! findings with their evidence.
//!
//! - [`icmp`]: `mtu.frag_needed`, the network saying a packet was too big;
//! - [`drops`]: `mtu.df_drop`, a device reporting it dropped one for its size;
//! - [`overlay`]: `mtu.oversize_encap` and `mtu.fragmentation`, tunnel packets against
//!   their overlay's underlay MTU;
//! - [`frames`]: `mtu.oversize_frame`, packets above their port group's MTU intent;
//! - [`blackhole`]: `mtu.blackhole`, the TCP signature with no ICMP to explain it.

pub mod blackhole;
pub mod drops;
pub mod evidence;
pub mod frames;
pub mod icmp;
pub mod overlay;

use datafusion::error::Result;
use datafusion::prelude::SessionContext;

pub use crate::rows::Window;

use crate::findings::Finding;
use crate::topology::Topology;

/// Every MTU finding of the store in the window.
pub async fn detect(ctx: &SessionContext, t: &Topology, w: &Window) -> Result<Vec<Finding>> {
    let (mut out, told) = icmp::frag_needed(ctx, w).await?;
    out.extend(drops::df_drops(ctx, w).await?);
    out.extend(overlay::check(ctx, t, w).await?);
    out.extend(frames::oversize(ctx, t, w).await?);
    out.extend(blackhole::stalls(ctx, w, &told).await?);
    Ok(out)
}
