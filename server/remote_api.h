/*
 * remote_api.h - the remote write and remote read HTTP endpoints of the
 * pharos server (private to server/):
 *
 *   POST /api/v1/write  remote write 1.0 and 2.0 receiver; 404 with
 *                       Prometheus's message unless
 *                       --web.enable-remote-write-receiver is given
 *   POST /api/v1/read   remote read (SAMPLES and STREAMED_XOR_CHUNKS)
 *
 * The decoding and storage logic lives in collector/remote.h; this file
 * maps HTTP headers and statuses onto it.  Metadata received over remote
 * write is kept in one process-wide metadata store, for /api/v1/metadata.
 */
#ifndef PHAROS_REMOTE_API_H
#define PHAROS_REMOTE_API_H

#include "remote_metadata.h"
#include "server.h"

/* Creates the metadata store (once) and registers both routes on s->http;
 * call from web_register, before httpd_start.  s must outlive the server. */
void remote_api_register(server_t *s);

/* The store filled by remote write (never NULL after remote_api_register);
 * owned by this file, valid until remote_api_shutdown. */
metadata_store_t *remote_api_metadata(void);

/* Frees the store and the remote write series cache (made by
 * remote_api_register for s->db); call after httpd_stop, before closing
 * the db.  Safe to call more than once. */
void remote_api_shutdown(void);

#endif
