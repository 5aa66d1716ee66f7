import { closeFd } from './syscall';

/**
 * Every fd a recording opens (BTF, maps, programs, module BTF) is registered
 * here and closed by `closeAll()` in a `finally`, so a failed load leaks
 * nothing: the kernel frees the objects once their last fd is gone.
 */
export class FdSet {
  private fds = new Set<number>();

  /** Take ownership of an fd; returns it for chaining. */
  own(fd: number): number {
    this.fds.add(fd);
    return fd;
  }

  /** Close one fd early (a program's fd once its test run is over). */
  close(fd: number): void {
    if (this.fds.delete(fd)) closeFd(fd);
  }

  get size(): number {
    return this.fds.size;
  }

  closeAll(): void {
    for (const fd of this.fds) closeFd(fd);
    this.fds.clear();
  }
}

/** Open fds of this process (for tests and leak checks). */
export async function countOpenFds(): Promise<number> {
  const { readdirSync } = await import('node:fs');
  return readdirSync('/proc/self/fd').length;
}
