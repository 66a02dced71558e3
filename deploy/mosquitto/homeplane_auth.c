/*
 * Homeplane authentication and ACL plugin for Mosquitto 2.0 (plugin API v5).
 *
 * On CONNECT (MOSQ_EVT_BASIC_AUTH) it posts the client id, username,
 * password and address to central's broker authentication contract
 * (POST /mqtt/v1/authn, EMQX's HTTP authentication format) and keeps the
 * answer for the connection: superuser (central's replicas) or an agent with
 * its home and its ACL, a list of exact topics. MOSQ_EVT_ACL_CHECK answers
 * from that list, so no ACL check makes a network call; the retain flag is
 * part of each publish rule, which also covers the Will at send time.
 *
 * Kicks: central's replicas publish {"client_id":"..."} or {"home":"..."} on
 * $CONTROL/homeplane/v1/kick; the plugin disconnects the matching agents
 * (their Wills are sent) and forgets their cached logins.
 *
 * Options (plugin_opt_*): url (required), token_file or token (required),
 * timeout_ms (default 2000), cache_seconds (default 5; 0 turns the login
 * cache off), max_retained_bytes (default 1024: an agent retains only its
 * presence, which central bounds to 1 KiB, topic.MaxPayload; larger retained
 * publishes and Wills are denied, as the embedded broker denies them).
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#define KICK_TOPIC "$CONTROL/homeplane/v1/kick"
#define MAX_RESPONSE (16 * 1024)
#define MAX_RULES 16
#define BUCKETS 4096
#define CACHE_SLOTS 1024
#define GONE_GRACE 5 /* seconds a disconnected connection's ACL stays, for its Will */

struct rule {
	char *topic;
	bool subscribe; /* else publish */
	bool retain;
};

/* conn is what the contract said about one connection. */
struct conn {
	struct conn *next;
	const struct mosquitto *client;
	char *client_id;
	char *home; /* NULL for superusers */
	bool superuser;
	time_t gone; /* when it disconnected; 0 while connected */
	int nrules;
	struct rule rules[MAX_RULES];
};

/* login is a cached successful agent login: same client id, username and
 * password within cache_seconds skip the HTTP call. */
struct login {
	char *username;
	char *password;
	char *answer; /* the contract's JSON answer */
	time_t until;
};

static mosquitto_plugin_id_t *plugin_id;
static CURL *curl;
static struct curl_slist *headers;
static char *url;
static long timeout_ms = 2000;
static long cache_seconds = 5;
static long max_retained_bytes = 1024;
static struct conn *conns[BUCKETS];
static struct login cache[CACHE_SLOTS];

static uint32_t hash_str(const char *s)
{
	uint32_t h = 2166136261u;
	for(; *s; s++){
		h = (h ^ (uint8_t)*s) * 16777619u;
	}
	return h;
}

static size_t bucket_of(const struct mosquitto *client)
{
	return ((uintptr_t)client >> 4) % BUCKETS;
}

static void conn_free(struct conn *c)
{
	for(int i = 0; i < c->nrules; i++){
		free(c->rules[i].topic);
	}
	free(c->client_id);
	free(c->home);
	free(c);
}

static struct conn *conn_find(const struct mosquitto *client)
{
	for(struct conn *c = conns[bucket_of(client)]; c; c = c->next){
		if(c->client == client){
			return c;
		}
	}
	return NULL;
}

static void conn_remove(const struct mosquitto *client)
{
	struct conn **p = &conns[bucket_of(client)];
	while(*p){
		if((*p)->client == client){
			struct conn *c = *p;
			*p = c->next;
			conn_free(c);
			return;
		}
		p = &(*p)->next;
	}
}

static void conn_put(struct conn *c)
{
	conn_remove(c->client);
	size_t b = bucket_of(c->client);
	c->next = conns[b];
	conns[b] = c;
}

/* Constant-time comparison of two strings. */
static bool same(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char diff = la != lb;
	for(size_t i = 0; i < la && i < lb; i++){
		diff |= (unsigned char)(a[i] ^ b[i]);
	}
	return diff == 0;
}

static void login_clear(struct login *l)
{
	free(l->username);
	if(l->password){
		memset(l->password, 0, strlen(l->password));
	}
	free(l->password);
	free(l->answer);
	memset(l, 0, sizeof(*l));
}

static struct login *login_slot(const char *username)
{
	return &cache[hash_str(username) % CACHE_SLOTS];
}

static void forget_login(const char *username)
{
	struct login *l = login_slot(username);
	if(l->username && strcmp(l->username, username) == 0){
		login_clear(l);
	}
}

struct buffer {
	char *data;
	size_t len;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct buffer *b = userdata;
	size_t n = size * nmemb;
	if(b->len + n > MAX_RESPONSE){
		return 0; /* makes curl fail: the answer is too long to be ours */
	}
	char *grown = realloc(b->data, b->len + n + 1);
	if(!grown){
		return 0;
	}
	b->data = grown;
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

/* ask posts the login to the contract; it returns the parsed answer, or NULL
 * when the contract could not be asked or answered something else than 200. */
static cJSON *ask(const char *client_id, const char *username, const char *password, const char *address)
{
	cJSON *req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "clientid", client_id);
	cJSON_AddStringToObject(req, "username", username);
	cJSON_AddStringToObject(req, "password", password);
	cJSON_AddStringToObject(req, "peerhost", address ? address : "");
	char *body = cJSON_PrintUnformatted(req);
	cJSON_Delete(req);
	if(!body){
		return NULL;
	}
	struct buffer resp = {0};
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &resp);
	CURLcode rc = curl_easy_perform(curl);
	memset(body, 0, strlen(body));
	free(body);
	long status = 0;
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	cJSON *out = NULL;
	if(rc != CURLE_OK){
		mosquitto_log_printf(MOSQ_LOG_WARNING, "homeplane: authentication contract unreachable: %s", curl_easy_strerror(rc));
	}else if(status != 200){
		mosquitto_log_printf(MOSQ_LOG_WARNING, "homeplane: authentication contract answered HTTP %ld", status);
	}else if(resp.data){
		out = cJSON_Parse(resp.data);
	}
	free(resp.data);
	return out;
}

/* conn_from parses an allowed answer into a connection's record. */
static struct conn *conn_from(cJSON *ans, const struct mosquitto *client, const char *client_id)
{
	struct conn *c = calloc(1, sizeof(*c));
	if(!c){
		return NULL;
	}
	c->client = client;
	c->client_id = strdup(client_id);
	c->superuser = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ans, "is_superuser"));
	if(c->superuser){
		return c;
	}
	cJSON *home = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(ans, "client_attrs"), "home");
	if(!cJSON_IsString(home)){
		conn_free(c);
		return NULL;
	}
	c->home = strdup(home->valuestring);
	cJSON *r;
	cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(ans, "acl")){
		cJSON *perm = cJSON_GetObjectItemCaseSensitive(r, "permission");
		cJSON *action = cJSON_GetObjectItemCaseSensitive(r, "action");
		cJSON *topic = cJSON_GetObjectItemCaseSensitive(r, "topic");
		if(!cJSON_IsString(perm) || strcmp(perm->valuestring, "allow") != 0 ||
				!cJSON_IsString(action) || !cJSON_IsString(topic) ||
				strncmp(topic->valuestring, "eq ", 3) != 0 || c->nrules == MAX_RULES){
			continue; /* only exact allows are kept; everything else is denied */
		}
		struct rule *rule = &c->rules[c->nrules];
		if(strcmp(action->valuestring, "subscribe") == 0){
			rule->subscribe = true;
		}else if(strcmp(action->valuestring, "publish") == 0){
			rule->retain = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "retain"));
		}else{
			continue;
		}
		rule->topic = strdup(topic->valuestring + 3);
		c->nrules++;
	}
	return c;
}

static void remember(const char *username, const char *password, cJSON *ans)
{
	if(cache_seconds <= 0){
		return;
	}
	struct login *l = login_slot(username);
	login_clear(l);
	l->username = strdup(username);
	l->password = strdup(password);
	l->answer = cJSON_PrintUnformatted(ans);
	l->until = time(NULL) + cache_seconds;
	if(!l->username || !l->password || !l->answer){
		login_clear(l);
	}
}

/* cached returns the remembered answer for this login, or NULL. */
static cJSON *cached(const char *username, const char *password)
{
	struct login *l = login_slot(username);
	if(!l->username || strcmp(l->username, username) != 0){
		return NULL;
	}
	if(l->until <= time(NULL) || !same(l->password, password)){
		login_clear(l);
		return NULL;
	}
	return cJSON_Parse(l->answer);
}

static int on_basic_auth(int event, void *event_data, void *userdata)
{
	(void)event;
	(void)userdata;
	struct mosquitto_evt_basic_auth *ed = event_data;
	const char *client_id = mosquitto_client_id(ed->client);
	if(!ed->username || !ed->password || !client_id){
		return MOSQ_ERR_AUTH;
	}
	/* Only agents' logins are cached, and only under their own client id. */
	bool fresh = false;
	cJSON *ans = strcmp(client_id, ed->username) == 0 ? cached(ed->username, ed->password) : NULL;
	if(!ans){
		ans = ask(client_id, ed->username, ed->password, mosquitto_client_address(ed->client));
		fresh = true;
	}
	if(!ans){
		return MOSQ_ERR_AUTH;
	}
	cJSON *result = cJSON_GetObjectItemCaseSensitive(ans, "result");
	struct conn *c = NULL;
	if(cJSON_IsString(result) && strcmp(result->valuestring, "allow") == 0){
		c = conn_from(ans, ed->client, client_id);
	}
	if(c && fresh && !c->superuser && strcmp(client_id, ed->username) == 0){
		remember(ed->username, ed->password, ans);
	}
	cJSON_Delete(ans);
	if(!c){
		return MOSQ_ERR_AUTH;
	}
	conn_put(c);
	return MOSQ_ERR_SUCCESS;
}

static int on_acl_check(int event, void *event_data, void *userdata)
{
	(void)event;
	(void)userdata;
	struct mosquitto_evt_acl_check *ed = event_data;
	struct conn *c = conn_find(ed->client);
	if(!c){
		return MOSQ_ERR_ACL_DENIED;
	}
	if(c->superuser){
		return MOSQ_ERR_SUCCESS;
	}
	for(int i = 0; i < c->nrules; i++){
		struct rule *r = &c->rules[i];
		if(strcmp(r->topic, ed->topic) != 0){
			continue;
		}
		switch(ed->access){
		case MOSQ_ACL_SUBSCRIBE:
		case MOSQ_ACL_UNSUBSCRIBE:
		case MOSQ_ACL_READ: /* delivery of what it subscribed to */
			if(r->subscribe){
				return MOSQ_ERR_SUCCESS;
			}
			break;
		case MOSQ_ACL_WRITE:
			if(!r->subscribe && r->retain == ed->retain && ed->qos <= 1 &&
					(!ed->retain || ed->payloadlen <= (uint32_t)max_retained_bytes)){
				return MOSQ_ERR_SUCCESS;
			}
			break;
		}
	}
	mosquitto_log_printf(MOSQ_LOG_NOTICE, "homeplane: denied %s access %d to \"%.128s\"", c->client_id, ed->access, ed->topic);
	return MOSQ_ERR_ACL_DENIED;
}

static int on_disconnect(int event, void *event_data, void *userdata)
{
	(void)event;
	(void)userdata;
	struct mosquitto_evt_disconnect *ed = event_data;
	struct conn *c = conn_find(ed->client);
	if(c && !c->gone){
		/* The broker checks the Will against the ACL after this event:
		 * keep the record a little longer. */
		c->gone = time(NULL);
	}
	return MOSQ_ERR_SUCCESS;
}

static int on_tick(int event, void *event_data, void *userdata)
{
	(void)event;
	(void)event_data;
	(void)userdata;
	time_t now = time(NULL);
	for(size_t b = 0; b < BUCKETS; b++){
		struct conn **p = &conns[b];
		while(*p){
			struct conn *c = *p;
			if(c->gone && now - c->gone >= GONE_GRACE){
				*p = c->next;
				conn_free(c);
			}else{
				p = &c->next;
			}
		}
	}
	return MOSQ_ERR_SUCCESS;
}

/* kick disconnects the connections a control message names. */
static int on_control(int event, void *event_data, void *userdata)
{
	(void)event;
	(void)userdata;
	struct mosquitto_evt_control *ed = event_data;
	struct conn *sender = conn_find(ed->client);
	if(!sender || !sender->superuser){
		return MOSQ_ERR_ACL_DENIED;
	}
	cJSON *msg = cJSON_ParseWithLength(ed->payload, ed->payloadlen);
	if(!msg){
		return MOSQ_ERR_INVAL;
	}
	cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "client_id");
	cJSON *home = cJSON_GetObjectItemCaseSensitive(msg, "home");
	/* Collect first: kicking runs the disconnect event, which edits the table. */
	char **ids = NULL;
	size_t n = 0;
	for(size_t b = 0; b < BUCKETS; b++){
		for(struct conn *c = conns[b]; c; c = c->next){
			bool match = (cJSON_IsString(id) && strcmp(c->client_id, id->valuestring) == 0) ||
				(cJSON_IsString(home) && c->home && strcmp(c->home, home->valuestring) == 0);
			if(match && !c->gone && !c->superuser){
				char **grown = realloc(ids, (n + 1) * sizeof(*ids));
				if(!grown){
					break;
				}
				ids = grown;
				ids[n++] = strdup(c->client_id);
			}
		}
	}
	if(cJSON_IsString(id)){
		forget_login(id->valuestring);
	}
	for(size_t i = 0; i < n; i++){
		if(ids[i]){
			forget_login(ids[i]);
			mosquitto_log_printf(MOSQ_LOG_NOTICE, "homeplane: disconnecting %s", ids[i]);
			mosquitto_kick_client_by_clientid(ids[i], true);
			free(ids[i]);
		}
	}
	free(ids);
	cJSON_Delete(msg);
	return MOSQ_ERR_SUCCESS;
}

static char *read_token(const char *path)
{
	FILE *f = fopen(path, "r");
	if(!f){
		return NULL;
	}
	char buf[512];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	while(n > 0 && isspace((unsigned char)buf[n - 1])){
		buf[--n] = '\0';
	}
	return n > 0 ? strdup(buf) : NULL;
}

int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
	for(int i = 0; i < supported_version_count; i++){
		if(supported_versions[i] == 5){
			return 5;
		}
	}
	return -1;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata, struct mosquitto_opt *opts, int opt_count)
{
	(void)userdata;
	char *token = NULL;
	for(int i = 0; i < opt_count; i++){
		if(strcmp(opts[i].key, "url") == 0){
			url = strdup(opts[i].value);
		}else if(strcmp(opts[i].key, "token_file") == 0){
			free(token);
			token = read_token(opts[i].value);
		}else if(strcmp(opts[i].key, "token") == 0){
			free(token);
			token = strdup(opts[i].value);
		}else if(strcmp(opts[i].key, "timeout_ms") == 0){
			timeout_ms = strtol(opts[i].value, NULL, 10);
		}else if(strcmp(opts[i].key, "cache_seconds") == 0){
			cache_seconds = strtol(opts[i].value, NULL, 10);
		}else if(strcmp(opts[i].key, "max_retained_bytes") == 0){
			max_retained_bytes = strtol(opts[i].value, NULL, 10);
		}
	}
	if(!url || !token || timeout_ms <= 0 || timeout_ms > 30000 || cache_seconds < 0 || cache_seconds > 300 ||
			max_retained_bytes < 0 || max_retained_bytes > 1048576){
		mosquitto_log_printf(MOSQ_LOG_ERR, "homeplane: plugin_opt_url and plugin_opt_token_file are required; timeout_ms 1-30000, cache_seconds 0-300, max_retained_bytes 0-1048576");
		free(token);
		return MOSQ_ERR_INVAL;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	curl = curl_easy_init();
	size_t hlen = strlen(token) + 32;
	char *auth = malloc(hlen);
	if(!curl || !auth){
		free(token);
		free(auth);
		return MOSQ_ERR_NOMEM;
	}
	snprintf(auth, hlen, "Authorization: Bearer %s", token);
	memset(token, 0, strlen(token));
	free(token);
	headers = curl_slist_append(headers, "Content-Type: application/json");
	headers = curl_slist_append(headers, auth);
	memset(auth, 0, strlen(auth));
	free(auth);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);

	plugin_id = identifier;
	int rc = mosquitto_callback_register(plugin_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL, NULL);
	rc = rc ? rc : mosquitto_callback_register(plugin_id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL, NULL);
	rc = rc ? rc : mosquitto_callback_register(plugin_id, MOSQ_EVT_DISCONNECT, on_disconnect, NULL, NULL);
	rc = rc ? rc : mosquitto_callback_register(plugin_id, MOSQ_EVT_TICK, on_tick, NULL, NULL);
	rc = rc ? rc : mosquitto_callback_register(plugin_id, MOSQ_EVT_CONTROL, on_control, KICK_TOPIC, NULL);
	if(rc == MOSQ_ERR_SUCCESS){
		mosquitto_log_printf(MOSQ_LOG_INFO, "homeplane: authenticating through %s", url);
	}
	return rc;
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *opts, int opt_count)
{
	(void)userdata;
	(void)opts;
	(void)opt_count;
	mosquitto_callback_unregister(plugin_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL);
	mosquitto_callback_unregister(plugin_id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL);
	mosquitto_callback_unregister(plugin_id, MOSQ_EVT_DISCONNECT, on_disconnect, NULL);
	mosquitto_callback_unregister(plugin_id, MOSQ_EVT_TICK, on_tick, NULL);
	mosquitto_callback_unregister(plugin_id, MOSQ_EVT_CONTROL, on_control, KICK_TOPIC);
	for(size_t b = 0; b < BUCKETS; b++){
		while(conns[b]){
			struct conn *c = conns[b];
			conns[b] = c->next;
			conn_free(c);
		}
	}
	for(size_t i = 0; i < CACHE_SLOTS; i++){
		login_clear(&cache[i]);
	}
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);
	curl_global_cleanup();
	free(url);
	return MOSQ_ERR_SUCCESS;
}
