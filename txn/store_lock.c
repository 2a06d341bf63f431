/*
 * The identity lock of the state store: one side file per (state file, identity), locked
 * with flock(2). flock locks belong to the open file description, so a second open in the
 * same process conflicts too, and the kernel drops the lock when the last descriptor closes,
 * which includes the death of the process by SIGKILL. The side file itself stays behind (it
 * is never unlinked: unlinking a lock file races with a process that just opened it).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "store.h"

/* True when |c| may appear unescaped in the lock file name. */
static bool name_char_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
}

/*
 * Returns the malloc'ed lock file name for |path| and |identity|, or NULL when memory runs
 * out. Escaping keeps '/' and other bytes of the identity from leaving the directory.
 */
static char *lock_name(const char *path, const char *identity)
{
    size_t plen = strlen(path), ilen = strlen(identity);
    char *name = malloc(plen + 1 + ilen * 3 + sizeof(".lock"));
    if (name == NULL)
        return NULL;
    char *p = name;
    memcpy(p, path, plen);
    p += plen;
    *p++ = '.';
    for (size_t i = 0; i < ilen; i++) {
        unsigned char c = (unsigned char)identity[i];
        if (name_char_ok(c))
            *p++ = (char)c;
        else
            p += sprintf(p, "%%%02X", c);
    }
    memcpy(p, ".lock", sizeof(".lock"));
    return name;
}

/* Reads the pid the holder wrote into |fd|; returns 0 when none can be read. */
static long read_holder_pid(int fd)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    return strtol(buf, NULL, 10);
}

/* Replaces the content of the locked |fd| with our pid (diagnostics only; errors ignored). */
static void write_own_pid(int fd)
{
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) == 0 && pwrite(fd, buf, (size_t)n, 0) != n)
        (void)0; /* the pid is a hint for the error message of a second opener */
}

/* Formats the message for a lock held by someone else. */
static void held_message(char *errbuf, size_t errlen, const char *path, const char *identity,
                         const char *name, long pid)
{
    if (pid > 0)
        snprintf(errbuf, errlen,
                 "state file %s: identity '%s' is already in use (lock %s is held by pid %ld)",
                 path, identity, name, pid);
    else
        snprintf(errbuf, errlen, "state file %s: identity '%s' is already in use (lock %s is held)",
                 path, identity, name);
}

int ktx__store_lock_acquire(int *fd, const char *path, const char *identity, char *errbuf,
                            size_t errlen)
{
    *fd = -1;
    char *name = lock_name(path, identity);
    if (name == NULL) {
        snprintf(errbuf, errlen, "state file %s: out of memory", path);
        return KTX_ERR_NO_MEMORY;
    }
    int lfd = open(name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (lfd < 0) {
        snprintf(errbuf, errlen, "state file %s: cannot open lock file %s for identity '%s': %s",
                 path, name, identity, strerror(errno));
        free(name);
        return KTX_ERR_STORE;
    }
    int rc;
    while ((rc = flock(lfd, LOCK_EX | LOCK_NB)) != 0 && errno == EINTR)
        ;
    if (rc != 0) {
        if (errno == EWOULDBLOCK)
            held_message(errbuf, errlen, path, identity, name, read_holder_pid(lfd));
        else
            snprintf(errbuf, errlen, "state file %s: cannot lock %s for identity '%s': %s", path,
                     name, identity, strerror(errno));
        close(lfd);
        free(name);
        return KTX_ERR_STORE;
    }
    write_own_pid(lfd);
    free(name);
    *fd = lfd;
    return 0;
}

void ktx__store_lock_release(int fd)
{
    if (fd < 0)
        return;
    (void)flock(fd, LOCK_UN);
    close(fd);
}
