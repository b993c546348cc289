// Package upstream is the broker's side of its cached, signed state: the
// pollers that bring new material from systems upstream of the broker.
//
// Source (HTTPSource, PathSource) fetches new signed policy bundles,
// SCIMSource reads a SCIM 2.0 directory, and Restrictions computes the only
// thing a directory may do, take rights away. A Syncer polls them all in the
// background, each on its own schedule and deadline, and keeps each one's
// last success, last error and age; whether a fetched bundle may become
// active is the broker's decision (broker.Service.Activate), never the
// source's. Nothing here blocks issuing: when every upstream is down, the
// broker keeps running on the last-known-good bundle in its store.
//
// The relying party's side, which needs none of this, is package offline.
package upstream
