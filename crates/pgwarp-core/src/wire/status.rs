//! A session's transaction status, as the server's last ReadyForQuery said it: the one
//! reading of that byte every path uses.

/// `I`: idle, outside a transaction.
pub(crate) const IDLE: u8 = b'I';
/// `T`: inside a transaction block.
pub(crate) const IN_TRANSACTION: u8 = b'T';
/// `E`: inside a failed transaction block (only ROLLBACK will be accepted).
pub(crate) const FAILED: u8 = b'E';

/// Where a session stands between statements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxStatus {
    /// Outside a transaction block (`I`).
    Idle,
    /// Inside a transaction block (`T`).
    InTransaction,
    /// Inside a failed transaction block: only ROLLBACK is accepted (`E`).
    Failed,
}

impl TxStatus {
    /// The status of a ReadyForQuery byte; one the protocol does not define counts as failed,
    /// so that nothing treats such a session as clean.
    pub fn from_byte(b: u8) -> TxStatus {
        match b {
            IDLE => TxStatus::Idle,
            IN_TRANSACTION => TxStatus::InTransaction,
            _ => TxStatus::Failed,
        }
    }

    /// Its ReadyForQuery byte.
    pub fn byte(self) -> u8 {
        match self {
            TxStatus::Idle => IDLE,
            TxStatus::InTransaction => IN_TRANSACTION,
            TxStatus::Failed => FAILED,
        }
    }

    /// Outside a transaction.
    pub fn is_idle(self) -> bool {
        self == TxStatus::Idle
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_and_unknown_is_failed() {
        for s in [TxStatus::Idle, TxStatus::InTransaction, TxStatus::Failed] {
            assert_eq!(TxStatus::from_byte(s.byte()), s);
        }
        assert_eq!(TxStatus::from_byte(b'X'), TxStatus::Failed);
        assert!(TxStatus::Idle.is_idle() && !TxStatus::Failed.is_idle());
    }
}
