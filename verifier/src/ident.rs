//! Identifiers only verification needs: 公安 filing numbers and registrable domains.
