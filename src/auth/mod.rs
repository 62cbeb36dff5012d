//! Getting tokens from the Microsoft identity platform: client secret, certificate assertion,
//! device code, password, refresh; one token per API audience; clouds and endpoints.
//! (Skeleton.)
