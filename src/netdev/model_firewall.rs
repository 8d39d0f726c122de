//! The model driver's firewall: the firewall ops carried out on the in-memory state, with
//! the kernel's sysctl side effects ([`super::sysctl::write`]).

use crate::firewall::{apply_to_state, FirewallError, FirewallState, Focus, FwOp};
use crate::netdev::firewall::FirewallDriver;

/// The firewall section of the model's kernel.
pub(super) struct ModelFirewall<'a>(pub(super) &'a mut FirewallState);

impl FirewallDriver for ModelFirewall<'_> {
    /// The model holds the whole state: a focus reads nothing less.
    fn query(&mut self, _focus: Option<&Focus>) -> Result<FirewallState, FirewallError> {
        Ok(self.0.clone())
    }

    /// A sysctl the kernel lacks is refused (`Sysctl`, not found); everything else
    /// succeeds, as the tools do on a kernel that has both backends.
    fn execute(&mut self, ops: &[&FwOp]) -> Result<(), FirewallError> {
        for op in ops {
            if let FwOp::Sysctl { key, to, .. } = op {
                super::sysctl::write(&mut self.0.sysctls, key, to).map_err(|()| {
                    FirewallError::Sysctl {
                        key: key.clone(),
                        source: std::io::ErrorKind::NotFound.into(),
                    }
                })?;
            } else {
                apply_to_state(self.0, op);
            }
        }
        Ok(())
    }
}
