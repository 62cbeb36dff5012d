//! A compact, streaming representation of advanced-hunting results (up to 100,000 rows).
//! (Skeleton.)
