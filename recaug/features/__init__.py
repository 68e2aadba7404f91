"""Multi-source feature fusion and the Feast feature store.

build     fuse curated, augmented and embedding tables into point-in-time Parquet tables
store     apply the feature_repo/ definitions; incremental, watermarked materialization
training  training sets through Feast's point-in-time join
online    user contexts and item lookups for serving (Feast SDK)
server    `feast serve` on a loopback port and a keep-alive client for it
"""
