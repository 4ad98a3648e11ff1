//! Whether this server leads, in one place. A server alone always leads;
//! under leader election the elector publishes each term here (its fence
//! and the token cancelled when it ends) and withdraws it once the term's
//! work is done. The reconciler fences its writes by it, the driver hub
//! serves drivers only under it, the warm pool and the forwarder ask it.
//! Nothing here elects: see `crate::leader` and `crate::ha`.

use std::sync::Arc;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::store::{Fence, StoreError};

/// A term this server leads in.
#[derive(Debug, Clone)]
pub struct Term {
    /// Names the term in every write the reconciler makes under it.
    pub fence: Fence,
    /// Cancelled when the term ends (lost, or the server stops).
    pub token: CancellationToken,
}

impl Term {
    fn over(&self) -> bool {
        self.token.is_cancelled()
    }
}

/// What [`Leadership::now`] says.
#[derive(Debug, Clone)]
pub enum Lead {
    /// Always: the only server.
    Always,
    /// In this term (possibly just over: its token says).
    Term(Term),
    /// Not now: another server leads, or none yet.
    Standby,
}

/// This server's leadership, shared by everything that depends on it.
#[derive(Debug)]
pub struct Leadership {
    /// `None`: no election, this server always leads. Else the current term
    /// (`None` on standby).
    terms: Option<watch::Sender<Option<Term>>>,
}

impl Leadership {
    /// A server alone: it always leads.
    pub fn always() -> Arc<Self> {
        Arc::new(Self { terms: None })
    }

    /// A server among others: on standby until the elector begins a term.
    pub fn elected() -> Arc<Self> {
        Arc::new(Self {
            terms: Some(watch::Sender::new(None)),
        })
    }

    /// Whether this server leads only when elected.
    pub fn elects(&self) -> bool {
        self.terms.is_some()
    }

    pub fn now(&self) -> Lead {
        match &self.terms {
            None => Lead::Always,
            Some(terms) => match &*terms.borrow() {
                Some(term) => Lead::Term(term.clone()),
                None => Lead::Standby,
            },
        }
    }

    /// The term this server leads in now (not over); `None` on standby and
    /// for a server that does not elect.
    pub fn term(&self) -> Option<u64> {
        let terms = self.terms.as_ref()?.borrow();
        terms
            .as_ref()
            .filter(|term| !term.over())
            .map(|term| term.fence.term)
    }

    /// Whether this server leads now: always, or in a term not over.
    pub fn leads(&self) -> bool {
        !self.elects() || self.term().is_some()
    }

    /// The fence of the current term, for the reconciler's writes (`None`:
    /// no election, or no term).
    pub fn fence(&self) -> Option<Fence> {
        let terms = self.terms.as_ref()?.borrow();
        terms.as_ref().map(|term| term.fence)
    }

    /// `Err(Fenced)` once the current term is over (its work still
    /// finishing): the last check before anything reaches the cluster.
    /// `Ok` with no term: the reconciler runs only within one, or always.
    pub fn still_leading(&self) -> Result<(), StoreError> {
        match self.terms.as_ref().map(|terms| terms.borrow().clone()) {
            Some(Some(term)) if term.over() => Err(StoreError::Fenced {
                term: term.fence.term,
            }),
            _ => Ok(()),
        }
    }

    /// Follows the terms (`None` for a server that does not elect).
    pub fn subscribe(&self) -> Option<watch::Receiver<Option<Term>>> {
        self.terms.as_ref().map(watch::Sender::subscribe)
    }

    /// Leads in `term` until `token` is cancelled and `work` is done: the
    /// term stays published while the work finishes, so its last writes are
    /// still fenced by it and refused once it is over.
    pub async fn lead_term(&self, term: u64, token: CancellationToken, work: impl Future) {
        let Some(terms) = &self.terms else {
            // Nothing to publish: a server that does not elect always leads.
            work.await;
            return;
        };
        terms.send_replace(Some(Term {
            fence: Fence { term },
            token,
        }));
        work.await;
        terms.send_replace(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_alone_always_leads_unfenced() {
        let l = Leadership::always();
        assert!(!l.elects() && l.leads());
        assert!(matches!(l.now(), Lead::Always));
        assert_eq!((l.term(), l.fence()), (None, None));
        assert!(l.still_leading().is_ok());
    }

    #[tokio::test]
    async fn an_elected_server_leads_in_its_term_and_is_fenced_once_it_is_over() {
        let l = Leadership::elected();
        assert!(l.elects() && !l.leads());
        assert!(matches!(l.now(), Lead::Standby));
        let mut terms = l.subscribe().unwrap();
        let token = CancellationToken::new();
        let seen = l.clone();
        let end = token.clone();
        l.lead_term(7, token, async move {
            assert!(seen.leads());
            assert_eq!(seen.term(), Some(7));
            assert_eq!(seen.fence(), Some(Fence { term: 7 }));
            assert!(seen.still_leading().is_ok());
            end.cancel();
            // Over, its work finishing: no longer leading, writes refused.
            assert!(!seen.leads());
            assert_eq!(seen.fence(), Some(Fence { term: 7 }));
            assert!(matches!(
                seen.still_leading(),
                Err(StoreError::Fenced { term: 7 })
            ));
        })
        .await;
        assert!(terms.has_changed().unwrap());
        assert!(terms.borrow_and_update().is_none());
        assert!(matches!(l.now(), Lead::Standby));
        assert_eq!(l.fence(), None);
        assert!(l.still_leading().is_ok());
    }
}
