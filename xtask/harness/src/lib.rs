//! The service under judgement: started as it ships on an ephemeral PostgreSQL (`running`),
//! driven by a load (`load`: the team's goose test or gatehouse's own requests) and judged
//! against its SLO specs (`slo`: the spec format, the generated Prometheus rules, their tests
//! and the dashboard).

pub mod load;
pub mod running;
pub mod slo;

use gatehouse_engine::{config, engine, exit, http};
use gatehouse_release as release;
