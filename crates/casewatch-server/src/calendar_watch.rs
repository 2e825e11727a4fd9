//! The working calendar running out, said where operators look: a WARN when the node
//! starts and every day after while its data ends within 60 days or has ended, and the
//! gauge `casewatch.calendar.days_left`.

use std::time::Duration;

use casewatch_domain::china_standard_time;
use casewatch_domain::policy::calendar_notice;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::AppState;

/// How often the calendar is looked at again.
const EVERY: Duration = Duration::from_secs(24 * 3600);

impl AppState {
    /// What operators must be told about the calendar in force today, with the days its
    /// data has left (negative once past), if anything; an error if the views cannot say.
    pub async fn calendar_notice(&self) -> Result<Option<(i64, String)>, tonic::Status> {
        let in_force = self.policy_in_force().await?;
        let today = self
            .clock
            .now()
            .with_timezone(&china_standard_time())
            .date_naive();
        Ok(calendar_notice(in_force.policy(), today))
    }
}

/// Looks at the calendar now and every day until `shutdown`: warns while it runs out, and
/// sets the gauge of the days left.
pub async fn watch_calendar(
    state: AppState,
    shutdown: CancellationToken,
) -> Result<(), std::convert::Infallible> {
    let days_left = opentelemetry::global::meter("casewatch-server")
        .i64_gauge("casewatch.calendar.days_left")
        .with_unit("d")
        .with_description(
            "Days until the national working calendar's data ends (negative once past); \
             reported while 60 or fewer",
        )
        .build();
    let mut interval = tokio::time::interval(EVERY);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            _ = interval.tick() => match state.calendar_notice().await {
                Ok(Some((left, notice))) => {
                    days_left.record(left, &[]);
                    warn!(days_left = left, "{notice}");
                }
                Ok(None) => info!("the working calendar's data lasts more than 60 days"),
                Err(error) => warn!(%error, "the calendar in force could not be read"),
            },
        }
    }
}
